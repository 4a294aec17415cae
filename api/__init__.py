"""The reactord API: wire protocol, codec, handler registry, stream batches, server
(sessions and their stream pump) and the blocking client."""
