"""The bottom of the project: errors, ids, settings, small db helpers and process-wide
machinery (metrics, logging, throttling, background work). Imports nothing else of the
project; everything else may import it."""
