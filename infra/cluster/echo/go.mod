module polyrpc.local/infra/cluster/echo

go 1.22
