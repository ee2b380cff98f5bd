"""The code ctl runs on target hosts. Standard library only; nothing here imports ``controller``."""
