name = "params"
path "secret/data/+/config" {
  capabilities       = ["create", "update"]
  allowed_parameters = { "ttl" = ["1h", "2h"], "*" = [] }
  denied_parameters  = { "admin" = [] }
  required_parameters = ["ttl"]
  min_wrapping_ttl   = "1m"
  max_wrapping_ttl   = 3600
}
path "sys/*" { policy = "deny" }
