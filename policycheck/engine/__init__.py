"""The engine: what a run covers, reading each fact once, judging, assembling the report;
live runs and plan runs."""
