"""The reactord API: wire protocol, handler registry, server and client."""
