"""Fleet security: test PKI for mutual TLS, zenoh TLS and access-control configuration."""
