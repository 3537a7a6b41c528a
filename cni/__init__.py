"""flatnet's CNI plugin: a thin, standard-library-only forwarder to the node agent."""
