// imapd/replies.cpp: see replies.hpp (the texts are constants there).
#include "imapd/replies.hpp"
