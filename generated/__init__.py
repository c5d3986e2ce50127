# GENERATED FILE: DO NOT EDIT. Regenerate with: backprop generate
"""Generated backward code: output of ``backprop generate``, never edited by hand."""
