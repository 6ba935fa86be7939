# tcpd/: placeholder until its programs land.
