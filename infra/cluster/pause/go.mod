module polyrpc.local/infra/cluster/pause

go 1.22
