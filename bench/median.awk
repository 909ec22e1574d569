# bench/median.awk - the median of repeated benchmark runs, one per figure.
#
#   ... | awk -f bench/median.awk
#
# Reads lines whose last field is a number; the fields before it are the
# figure's key ("pubsub-1to1 msgs_per_s 9499917" has the key "pubsub-1to1
# msgs_per_s").  Prints "KEY MEDIAN" per key, keys in first-seen order; the
# median of an even count is the lower middle value, printed as the program
# printed it.  Used by bench/run.sh and the peers' scripts alike.
NF >= 2 {
    key = $1
    for (f = 2; f < NF; f++)
        key = key " " $f
    if (!(key in n))
        order[++k] = key
    v[key, ++n[key]] = $NF
}
END {
    for (i = 1; i <= k; i++) {
        key = order[i]; c = n[key]
        for (a = 1; a <= c; a++) x[a] = v[key, a]
        for (a = 2; a <= c; a++) {          # insertion sort, by value
            t = x[a]; b = a - 1
            while (b >= 1 && x[b] + 0 > t + 0) { x[b + 1] = x[b]; b-- }
            x[b + 1] = t
        }
        print key, x[int((c + 1) / 2)]
    }
}
