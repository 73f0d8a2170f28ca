"""The commands of the ``roiste`` command line, one module per area.

``roiste.optimizer.cli`` names them in its table and imports a module only when one of its
commands runs, so that ``roiste --help`` does not load the estimation and planning stack.
"""
