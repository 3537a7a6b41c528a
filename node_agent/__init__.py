"""flatnet node agent: wires pods into the node netns and keeps the node's routes in sync."""
