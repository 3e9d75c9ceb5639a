"""What users run: the command line, the notebook API (:class:`~r1lib.app.run.Run`), ``reproduce`` and
``rehearse``.

The top layer: it may use every other room; no other room imports it.
"""
