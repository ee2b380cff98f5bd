"""``ctl watch``: a live full-screen view of a job on every host.

- ``board``: what the view shows, as plain values built from poll results (``HostResult``s,
  the same ones ``ctl poll --json`` prints): each host's state, totals, progress, ETA, the
  histogram of finish times, what went wrong, who is slow;
- ``layout``: one cell per host, or folded ranges/groups when they do not fit;
- ``watcher``: the poll rounds (``Controller.poll``, forks limit, an interval that adapts to
  how long a round takes), kill and live output, for the view;
- ``view``: the Textual application (the only module that imports Textual).

Only ``ctl watch`` (and ``--watch``) import this package, so no other command pays for it.
"""
