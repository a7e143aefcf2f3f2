package include
