"""Dashboards in the browser (Bokeh): the SOM map with the spectra behind each neuron.

``vocloud dashboard EXPERIMENT`` serves them; in Jupyter, ``bokeh.io.show(som_app(path))``.
"""

from vocloud.viz.data import SomMapData
from vocloud.viz.serve import make_server, serve
from vocloud.viz.som_map import COLOR_BY, som_app, som_document

__all__ = ["COLOR_BY", "SomMapData", "make_server", "serve", "som_app", "som_document"]
