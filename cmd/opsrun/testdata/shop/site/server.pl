#!/usr/bin/perl
# The shop app of opsrun's lifecycle integration tests: a single-threaded
# HTTP/1.0 server on the port given as the first argument (default 8080).
#   GET /health  200 "ok"
#   GET /        200 and the content of ./VERSION (the release it runs from)
#   anything else 404
# Only perl-base modules: the test hosts have nothing more.
use strict;
use warnings;
use IO::Socket::INET;

my $port = shift // 8080;
my $server = IO::Socket::INET->new(
    LocalAddr => '0.0.0.0',
    LocalPort => $port,
    Proto     => 'tcp',
    Listen    => 16,
    ReuseAddr => 1,
) or die "shop: cannot listen on port $port: $!\n";
$SIG{PIPE} = 'IGNORE';

while (my $client = $server->accept) {
    my $request = <$client> // '';
    # Skip the headers up to the blank line; there is no body to read.
    while (my $line = <$client>) {
        last if $line =~ /^\r?\n$/;
    }
    my ($method, $path) = split ' ', $request;
    $method //= '';
    $path   //= '';
    my ($status, $body) = ('404 Not Found', "not found\n");
    if ($method eq 'GET' && $path eq '/health') {
        ($status, $body) = ('200 OK', "ok\n");
    } elsif ($method eq 'GET' && $path eq '/') {
        if (open my $fh, '<', 'VERSION') {
            local $/;
            ($status, $body) = ('200 OK', <$fh> // '');
            close $fh;
        } else {
            ($status, $body) = ('500 Internal Server Error', "VERSION: $!\n");
        }
    }
    print $client "HTTP/1.0 $status\r\nContent-Type: text/plain\r\nContent-Length: "
        . length($body) . "\r\nConnection: close\r\n\r\n" . $body;
    close $client;
}
