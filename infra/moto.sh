# Sourced by scripts: start_moto VENV starts moto (the AWS emulator) on a free loopback
# port, stops it on exit (also on failure), and exports INLET_TEST_AWS_ENDPOINT and dummy
# AWS credentials.
start_moto() {
    local venv=$1 port
    port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p target
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
    MOTO_PID=$!
    trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then break; fi
        sleep 0.1
    done
    export INLET_TEST_AWS_ENDPOINT=http://127.0.0.1:$port
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    echo "moto listening on $INLET_TEST_AWS_ENDPOINT (pid $MOTO_PID)"
}
