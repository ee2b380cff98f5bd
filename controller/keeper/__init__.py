"""Warm connections between commands: a per-user keeper process holds SSH connections open
for ``--persist`` seconds after the last command that used them, as OpenSSH's
ControlPersist does for Ansible.

``wire`` (the socket's messages, its uid check, the version tag), ``pool`` (connections by
identity, MaxSessions, reopening a dropped one), ``server`` (the keeper process),
``client`` (``KeeperTransport`` and finding, starting or replacing the keeper).
"""
