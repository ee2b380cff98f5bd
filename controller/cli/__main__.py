"""``python -m controller.cli``: the ``ctl`` command."""

from controller.cli import main

if __name__ == "__main__":
    main()
