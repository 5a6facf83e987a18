using Google.Protobuf.Reflection;
using Landmark.Contracts.Api.V1;
using Landmark.ServiceDefaults;
using Xunit;

namespace Landmark.Security.Tests;

public sealed class MethodAccessPolicyTests
{
    /// <summary>Every gRPC service of the contracts, from the generated descriptors.</summary>
    private static IEnumerable<ServiceDescriptor> ContractServices() =>
        typeof(IngestService).Assembly.GetTypes()
            .Select(t => t.GetProperty("Descriptor", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            .Where(p => p?.PropertyType == typeof(ServiceDescriptor))
            .Select(p => (ServiceDescriptor)p!.GetValue(null)!);

    [Fact]
    public void Every_method_of_every_contract_service_has_an_explicit_scope()
    {
        var services = ContractServices().ToList();
        Assert.Contains(services, s => s.FullName == "landmark.v1.IngestService");
        Assert.Contains(services, s => s.FullName == "landmark.internal.v1.EmbedderService");
        var missing = services
            .SelectMany(s => s.Methods.Select(m => $"/{s.FullName}/{m.Name}"))
            .Where(name => !MethodAccessPolicy.Scopes.ContainsKey(name))
            .ToList();
        Assert.Empty(missing);
    }

    [Fact]
    public void Internal_services_need_the_internal_scope_and_public_ones_never_do()
    {
        foreach (var service in ContractServices())
        {
            foreach (var method in service.Methods)
            {
                var access = MethodAccessPolicy.For(service.FullName, $"/{service.FullName}/{method.Name}");
                Assert.Equal(AccessKind.Scoped, access.Kind);
                Assert.Equal(service.FullName.StartsWith("landmark.internal.", StringComparison.Ordinal),
                    access.Scope == ApiScopes.Internal);
            }
        }
    }

    [Theory]
    [InlineData("landmark.v1.IngestService", "ImportDataset", ApiScopes.Admin)]
    [InlineData("landmark.v1.IngestService", "UploadImage", ApiScopes.Ingest)]
    [InlineData("landmark.v1.IngestService", "GetStats", ApiScopes.Ingest)]
    [InlineData("landmark.v1.RecognitionService", "Recognize", ApiScopes.Recognize)]
    [InlineData("landmark.v1.EvaluationService", "Evaluate", ApiScopes.Recognize)]
    [InlineData("landmark.v1.TrainingService", "StartTraining", ApiScopes.Admin)]
    [InlineData("landmark.v1.ModelService", "PublishModel", ApiScopes.Admin)]
    [InlineData("landmark.v1.ModelService", "RollbackModel", ApiScopes.Admin)]
    [InlineData("landmark.v1.ModelService", "ImportModel", ApiScopes.Admin)]
    [InlineData("landmark.internal.v1.EmbedderService", "Embed", ApiScopes.Internal)]
    [InlineData("landmark.internal.v1.RetrievalService", "GetVector", ApiScopes.Internal)]
    public void Methods_need_their_documented_scope(string service, string method, string scope) =>
        Assert.Equal(new MethodAccess(AccessKind.Scoped, scope), MethodAccessPolicy.For(service, $"/{service}/{method}"));

    [Fact]
    public void Unlisted_methods_need_admin_or_internal_so_that_a_new_method_starts_closed()
    {
        Assert.Equal(ApiScopes.Admin, MethodAccessPolicy.For("landmark.v1.IngestService", "/landmark.v1.IngestService/DeleteEverything").Scope);
        Assert.Equal(ApiScopes.Admin, MethodAccessPolicy.For("other.v1.Thing", "/other.v1.Thing/Do").Scope);
        Assert.Equal(ApiScopes.Internal, MethodAccessPolicy.For("landmark.internal.v2.Shard", "/landmark.internal.v2.Shard/Move").Scope);
    }

    [Fact]
    public void The_table_is_keyed_by_exact_method_names()
    {
        // Routing is case-insensitive; the policy never sees the path text, and its table does not fold case either.
        Assert.Equal(ApiScopes.Admin, MethodAccessPolicy.For("landmark.v1.IngestService", "/LANDMARK.V1.IngestService/GetStats").Scope);
    }

    [Fact]
    public void Health_is_open_and_reflection_is_its_own_kind()
    {
        Assert.Equal(AccessKind.Open, MethodAccessPolicy.For("grpc.health.v1.Health", "/grpc.health.v1.Health/Check").Kind);
        Assert.Equal(AccessKind.Reflection,
            MethodAccessPolicy.For("grpc.reflection.v1alpha.ServerReflection", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo").Kind);
        Assert.Equal(AccessKind.Reflection,
            MethodAccessPolicy.For("grpc.reflection.v1.ServerReflection", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo").Kind);
    }

    [Theory]
    [InlineData(null, true, true)]
    [InlineData(null, false, false)]
    [InlineData(true, false, true)]
    [InlineData(false, true, false)]
    public void Reflection_is_open_in_development_unless_configured(bool? allow, bool development, bool open) =>
        Assert.Equal(open, new AuthOptions { AllowReflectionWithoutKey = allow }.ReflectionIsOpen(development));
}
