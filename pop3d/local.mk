# pop3d/: placeholder until its programs land.
