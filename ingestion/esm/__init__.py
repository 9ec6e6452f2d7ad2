"""The local event source mappings: the part of Lambda that polls a source, batches, invokes,
retries and checkpoints. `ingestion.runner` drives them; the semantics follow AWS's documentation
of `AWS::Lambda::EventSourceMapping` for Kinesis, DynamoDB Streams and SQS."""
