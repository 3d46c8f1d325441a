"""The shipped trained weights (``NAME.pt``) and their ``manifest.json``: data, not code.

Load them with :func:`fundamentalml.pretrained`; remake them with ``python -m fundamentalml reproduce``;
check them with ``python -m fundamentalml verify``.
"""
