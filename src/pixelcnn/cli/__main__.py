"""``python -m pixelcnn.cli``: the ``pixelcnn`` command."""

from pixelcnn.cli import main

main()
