//! Tests of the load balancer.
