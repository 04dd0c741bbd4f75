"""The demo's pictures, kept out of the runtime core: drawn products and rooms.

:mod:`visualizer_core.demo.art` draws the demo catalog (``DEMO_CATALOG``) and rooms
(``DEMO_ROOMS``) with Pillow, deterministically, so that ``visualizer demo`` and the tests have
realistic pictures without files or a network. Only the demo service, the inspiration library's
drawn rooms, the tests and the benchmarks use it.
"""
