# imapd/: placeholder until its programs land.
