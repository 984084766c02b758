"""eoslib: an executable companion to four papers on gradient descent at the Edge of Stability."""
