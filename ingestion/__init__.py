"""Change capture: stream record -> ChangeEvent, fan-out to Kinesis and EventBridge, and the local
Lambda runtime (event source mappings)."""
