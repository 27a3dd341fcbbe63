# Prints "name  median" from criterion's output (bench/run-micro.sh uses it).
/^[a-z_]+\/[a-z_0-9]+/ { name = $1 }
/time:/ {
    for (i = 1; i <= NF; i++) if ($i == "time:") { printf "%-45s %s %s\n", name, $(i + 3), $(i + 4); break }
}
