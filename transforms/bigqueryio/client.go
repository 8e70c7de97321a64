package bigqueryio

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"cloud.google.com/go/bigquery"
	storage "cloud.google.com/go/bigquery/storage/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// loopback reports whether host is this machine: a local test server, which
// speaks plain text and takes no credentials.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newStorageClient opens a Storage Read API client; endpoint is host:port,
// empty for Google's.
func newStorageClient(ctx context.Context, endpoint string) (*storage.BigQueryReadClient, error) {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint))
		host, _, err := net.SplitHostPort(endpoint)
		if err != nil {
			return nil, fmt.Errorf("--bq_storage_endpoint=%q is not host:port: %v", endpoint, err)
		}
		if loopback(host) {
			opts = append(opts, option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		}
	}
	c, err := storage.NewBigQueryReadClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("opening a BigQuery Storage Read client: %v", err)
	}
	return c, nil
}

// newBigQueryClient opens a REST client billed to project; endpoint is a
// base URL, empty for Google's. A bare host (https://host or http://host)
// gets BigQuery's /bigquery/v2/ path.
func newBigQueryClient(ctx context.Context, project, endpoint string) (*bigquery.Client, error) {
	var opts []option.ClientOption
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--bq_endpoint=%q is not a URL such as https://bigquery.googleapis.com", endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/bigquery/v2/"
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		opts = append(opts, option.WithEndpoint(u.String()))
		if loopback(u.Hostname()) {
			opts = append(opts, option.WithoutAuthentication())
		}
	}
	c, err := bigquery.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("opening a BigQuery client for project %s: %v", project, err)
	}
	return c, nil
}
