# tls/: placeholder until its programs land.
