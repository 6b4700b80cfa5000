"""Chain access for the node and the SDK: bindings, sends, reverts decoded by name, typed views."""
