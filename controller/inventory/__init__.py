"""Ansible inventories, read as Ansible reads them.

Sources (``-i``, repeatable, the union of all): an Ansible YAML inventory (``all:`` with
``hosts:``, ``children:``, ``vars:``; host ranges like ``web[01:20]``), an INI inventory, a
directory of them with ``group_vars/`` and ``host_vars/``, a dynamic inventory script or its
saved ``--list`` JSON, or a comma-separated host list (``web1,web2,``).

Modules, each with one job: ``model`` (groups, hosts, their variables by layer), ``reader``
(names and ranges; the YAML shape), ``sources`` (INI, JSON, scripts, directories, vars
dirs), ``precedence`` (Ansible's variable layers), ``hostvars`` (the table from Ansible
variables to a HostSpec), ``patterns`` (``--limit``), ``loader`` (all of it, once), ``view``
(``ctl inventory``'s output). No module here imports one that imports it.
"""

from .loader import load_inventory
from .model import Group, Inventory
from .patterns import select_hosts
from .reader import expand_ranges

__all__ = ["Group", "Inventory", "expand_ranges", "load_inventory", "select_hosts"]
