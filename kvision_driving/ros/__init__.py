"""The only layer (with nodes/) that knows rclpy: conversions, QoS, parameters, diagnostics, node base."""
