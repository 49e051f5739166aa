"""The book: build, parameters, results, reproduction, the report's text, figures and Sphinx extensions."""
