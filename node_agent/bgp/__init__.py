"""BGP for the node agent: an ExaBGP speaker that announces the node's blocks."""
