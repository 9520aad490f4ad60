package apps2

import (
	"os/exec"
	"testing"
)

// javaApp is an HTTP server using the JDK's com.sun.net.httpserver alone:
// it answers its version, the PORT it was given, GREETING from the app's
// environment and the heap limit java_opts set.
func javaApp(version string) map[string]string {
	return map[string]string{"hello/Hello.java": `import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public class Hello {
    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(Integer.parseInt(System.getenv("PORT"))), 0);
        server.createContext("/", exchange -> {
            long heapMB = Runtime.getRuntime().maxMemory() / (1024 * 1024);
            byte[] body = ("` + version + ` port=" + System.getenv("PORT") + " greeting=" + System.getenv("GREETING") + " heap<=" + (heapMB <= 128) + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
    }
}
`}
}

// javaBuild makes hello/app.jar. With a JDK on this machine it is built
// here by local_build, for Java 17, the JRE Debian 12 ships; without
// one, the stack installs a JDK on the host and the app's build makes
// the jar there.
func javaBuild() (source, build, setup string) {
	const make = "javac --release 17 -d classes Hello.java && jar --create --file app.jar --main-class Hello -C classes ."
	if _, err := exec.LookPath("javac"); err == nil {
		return `local_build = "` + make + `"`, "", ""
	}
	return "", `build = "` + make + `"`, `
  on "setup" {
    package "jdk" {
      name = "default-jdk-headless"
    }
  }`
}

// TestJava runs a jar with the distribution's JRE and the layer's
// java_opts, deploys a new build, which restarts the JVM, then
// undeploys it.
func TestJava(t *testing.T) {
	t.Parallel()
	host, from := takeHosts(t)
	source, build, setup := javaBuild()
	files := javaApp("v1")
	files["stack.hcl"] = `
app "hello" {
  layers = ["jvm"]
  source {
    path = "hello"
    ` + source + `
  }
  ` + build + `
  environment = { GREETING = "hi" }
  health_check {
    http    = "/"
    port    = 8080
    retries = 20
  }
}

layer "jvm" {
  use      = "java"
  settings = { java_opts = "-Xmx96m -Xss512k" }` + setup + `
}
`
	s := pool.NewStack(t, files, map[string][]string{"jvm": {host}})
	s.Converge("hello")
	expectBody(t, from, host, 8080, "/", "v1 port=8080 greeting=hi heap<=true\n")
	pid := running(t, host, "opsrun-hello")
	redeploy(t, s, "hello", javaApp("v2"), from, host, 8080, "v2 ", pid)

	undeploy(t, s, from, host, "opsrun-hello", 8080, "v2")
}
