"""Each chapter notebook's machinery: its tables, the sentences that depend on results, and its results record.

One module per chapter (``lab3.book.chapters.quantization`` for ``notebooks/quantization.ipynb``), so that a
notebook holds its prose in Markdown and the short code that teaches, and calls one function where it
used to spell out a table, a sentence or a results record. The functions take the chapter's values as
arguments and return rows, text or records; the ones that display do so through ``lab3.book.report``.
"""
