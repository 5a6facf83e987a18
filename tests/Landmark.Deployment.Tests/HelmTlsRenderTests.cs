using k8s.Models;
using Xunit;

namespace Landmark.Deployment.Tests;

/// <summary>The chart's TLS values rendered by the real helm: the cert-manager Secret mounted where the services read it,
/// the Certificate, probes that speak no TLS, the helm test's TLS flags, broker and S3 CAs, and the refusals.</summary>
public sealed class HelmTlsRenderTests
{
    private static readonly string[] Mtls =
    [
        "--set", "tls.enabled=true", "--set", "tls.requireClientCertificate=true",
        "--set", "tls.certificate.create=true", "--set", "tls.certificate.issuerRef.name=landmark-ca",
    ];

    private static IEnumerable<V1PodTemplateSpec> ServicePods(IReadOnlyList<object> objects) =>
        objects.OfType<V1Deployment>().Select(d => d.Spec.Template)
            .Concat(objects.OfType<V1Job>().Select(j => j.Spec.Template))
            .Concat(objects.OfType<V1CronJob>().Select(c => c.Spec.JobTemplate.Spec.Template));

    private static IDictionary<string, string> Config(IReadOnlyList<object> objects) =>
        objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "landmark").Data;

    [Fact]
    public void Tls_mounts_the_cert_manager_secret_where_the_services_read_it_and_probes_readyz_on_the_http_port()
    {
        var objects = Helm.Objects("landmark", Mtls);

        var config = Config(objects);
        Assert.Equal("/etc/landmark/tls/tls.crt", config["Landmark__Tls__CertificatePath"]);
        Assert.Equal("/etc/landmark/tls/tls.key", config["Landmark__Tls__KeyPath"]);
        Assert.Equal("/etc/landmark/tls/ca.crt", config["Landmark__Tls__CaPath"]);
        Assert.Equal("true", config["Landmark__Tls__RequireClientCertificate"]);
        Assert.Equal("10", config["Landmark__Tls__ReloadCheckSeconds"]);
        var pods = ServicePods(objects).ToList();
        Assert.NotEmpty(pods);
        foreach (var pod in pods)
        {
            var volume = Assert.Single(pod.Spec.Volumes, v => v.Name == "tls");
            Assert.Equal("landmark-tls", volume.Secret.SecretName);
            Assert.Null(volume.Secret.Items); // the whole Secret: renewed files reach the pod
            var mount = Assert.Single(pod.Spec.Containers[0].VolumeMounts, m => m.Name == "tls");
            Assert.Equal("/etc/landmark/tls", mount.MountPath);
            Assert.Null(mount.SubPath);
        }
        foreach (var deployment in objects.OfType<V1Deployment>().Where(d => d.Metadata.Labels.ContainsKey("app.kubernetes.io/name")))
        {
            var container = deployment.Spec.Template.Spec.Containers[0];
            Assert.Null(container.ReadinessProbe.Grpc);
            Assert.Equal("/readyz", container.ReadinessProbe.HttpGet.Path);
            Assert.Equal("/readyz", container.StartupProbe.HttpGet.Path);
        }
    }

    [Fact]
    public void The_certificate_names_every_service_and_its_headless_service_for_server_and_client_auth()
    {
        var certificate = Assert.Single(Helm.Objects("landmark", Mtls).OfType<CustomResource>(), o => o.Kind == "Certificate");

        Assert.Equal("cert-manager.io/v1", certificate.ApiVersion);
        Assert.Equal("landmark-tls", certificate.Spec["secretName"]?.ToString());
        var names = ((IEnumerable<object>)certificate.Spec["dnsNames"]!).Select(n => n.ToString()).ToList();
        foreach (var service in new[] { "ingest", "embedder", "retrieval", "scorer", "trainer" })
        {
            Assert.Contains($"landmark-{service}", names);
            Assert.Contains($"landmark-{service}-replicas", names);
            Assert.Contains($"landmark-{service}.landmark.svc.cluster.local", names);
        }
        var usages = ((IEnumerable<object>)certificate.Spec["usages"]!).Select(u => u.ToString()).ToList();
        Assert.Contains("server auth", usages);
        Assert.Contains("client auth", usages);
        var issuer = (IDictionary<object, object>)certificate.Spec["issuerRef"]!;
        Assert.Equal("landmark-ca", issuer["name"]);
    }

    [Fact]
    public void The_helm_test_pod_speaks_tls_and_presents_the_client_certificate_under_mtls()
    {
        var pod = Assert.Single(Helm.Objects("landmark", Mtls).OfType<V1Pod>(), p => p.Metadata.Name.EndsWith("-test-grpc-health", StringComparison.Ordinal));

        Assert.All(pod.Spec.Containers, c =>
        {
            Assert.Contains("-tls", c.Args);
            Assert.Contains("-tls-ca-cert=/etc/landmark/tls/ca.crt", c.Args);
            Assert.Contains("-tls-client-cert=/etc/landmark/tls/tls.crt", c.Args);
        });
        Assert.Equal("landmark-tls", Assert.Single(pod.Spec.Volumes).Secret.SecretName);
    }

    [Fact]
    public void Without_tls_nothing_changes_grpc_probes_stay_and_no_certificate_is_rendered()
    {
        var objects = Helm.Objects("landmark");

        Assert.DoesNotContain(Config(objects).Keys, k => k.StartsWith("Landmark__Tls__", StringComparison.Ordinal));
        Assert.DoesNotContain(objects.OfType<CustomResource>(), o => o.Kind == "Certificate");
        Assert.All(ServicePods(objects), p => Assert.DoesNotContain(p.Spec.Volumes, v => v.Name == "tls"));
        Assert.All(objects.OfType<V1Deployment>().Where(d => d.Metadata.Labels.ContainsKey("app.kubernetes.io/name")),
            d => Assert.Equal(8080, int.Parse(d.Spec.Template.Spec.Containers[0].ReadinessProbe.Grpc.Port.ToString(), System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Broker_and_object_store_cas_come_from_their_secrets()
    {
        var objects = Helm.Objects("landmark", "--set", "rabbitmq.port=5671", "--set", "rabbitmq.tls.enabled=true",
            "--set", "rabbitmq.tls.serverName=rabbitmq.messaging.svc", "--set", "rabbitmq.tls.caSecretName=broker-ca",
            "--set", "s3.useSsl=true", "--set", "s3.caSecretName=s3-ca");

        var config = Config(objects);
        Assert.Equal("true", config["Landmark__Messaging__RabbitMq__Tls__Enabled"]);
        Assert.Equal("rabbitmq.messaging.svc", config["Landmark__Messaging__RabbitMq__Tls__ServerName"]);
        Assert.Equal("/etc/landmark/rabbitmq-ca/ca.crt", config["Landmark__Messaging__RabbitMq__Tls__CaPath"]);
        Assert.Equal("/etc/landmark/s3-ca/ca.crt", config["Landmark__Storage__S3__CaPath"]);
        foreach (var pod in ServicePods(objects))
        {
            Assert.Equal("broker-ca", Assert.Single(pod.Spec.Volumes, v => v.Name == "rabbitmq-ca").Secret.SecretName);
            Assert.Equal("s3-ca", Assert.Single(pod.Spec.Volumes, v => v.Name == "s3-ca").Secret.SecretName);
            Assert.Contains(pod.Spec.Containers[0].VolumeMounts, m => m.MountPath == "/etc/landmark/s3-ca");
        }
    }

    [Theory]
    [InlineData("tls.requireClientCertificate=true", "tls.requireClientCertificate needs tls.enabled=true")]
    [InlineData("s3.caSecretName=s3-ca", "s3.caSecretName needs s3.useSsl=true")]
    public void Tls_values_that_cannot_work_fail_the_install_naming_the_values(string setting, string message)
    {
        var (code, _, errors) = Helm.Try("landmark", [.. Helm.Keys, "--set", setting]);

        Assert.NotEqual(0, code);
        Assert.Contains(message, errors, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_without_an_issuer_fails_the_install()
    {
        var (code, _, errors) = Helm.Try("landmark", [.. Helm.Keys, "--set", "tls.enabled=true", "--set", "tls.certificate.create=true"]);

        Assert.NotEqual(0, code);
        Assert.Contains("tls.certificate.create needs tls.certificate.issuerRef.name", errors, StringComparison.Ordinal);
    }
}
