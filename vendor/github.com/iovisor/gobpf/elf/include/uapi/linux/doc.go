package linux
