"""Safety benchmarks: sources, loaders, the item schema and stratified sampling."""
