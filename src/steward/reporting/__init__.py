"""Usage and cost reports read from incremental rollups, their exports, and the rollup aggregation itself."""
