provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "hjemmekontor-portal"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# WAF web ACLs for CloudFront (scope CLOUDFRONT) and their logs must be in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = {
      Project     = "hjemmekontor-portal"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
