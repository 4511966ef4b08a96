path "a+*" { capabilities = ["read"] }
