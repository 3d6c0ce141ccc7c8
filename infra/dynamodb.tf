# The single table of DESIGN §6. Items expire through `expires_at` (DynamoDB deletes them lazily;
# the code treats anything past `expires_at` as absent). The stream feeds serial-activation.
resource "aws_dynamodb_table" "portal" {
  name         = "${local.name}-portal"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }

  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  deletion_protection_enabled = var.deletion_protection
}
