using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Landmark.VectorIndex;

/// <summary>
/// Validates <see cref="VectorIndexOptions"/> including the nested provider sections (which data annotations on the
/// root alone do not reach), and requires an absolute http(s) <see cref="QdrantOptions.Url"/> that is not Qdrant's REST port
/// when the provider is Qdrant, and a write consistency factor no larger than the replication factor.
/// </summary>
public sealed class VectorIndexOptionsValidator : IValidateOptions<VectorIndexOptions>
{
    public ValidateOptionsResult Validate(string? name, VectorIndexOptions options)
    {
        var failures = new List<string>();
        if (!Enum.IsDefined(options.Provider))
        {
            failures.Add($"{VectorIndexOptions.SectionName}:Provider '{options.Provider}' is not one of {string.Join(", ", Enum.GetNames<VectorIndexProvider>())}.");
        }
        switch (options.Provider)
        {
            case VectorIndexProvider.Embedded:
                Annotations(options.Embedded, "Embedded", failures);
                if (options.Embedded is not null)
                {
                    Annotations(options.Embedded.Hnsw, "Embedded:Hnsw", failures);
                    if (!Enum.IsDefined(options.Embedded.Search))
                    {
                        failures.Add($"{VectorIndexOptions.SectionName}:Embedded:Search '{options.Embedded.Search}' is not one of {string.Join(", ", Enum.GetNames<EmbeddedSearchMode>())}.");
                    }
                }
                break;
            case VectorIndexProvider.Qdrant:
                Annotations(options.Qdrant, "Qdrant", failures);
                if (string.IsNullOrWhiteSpace(options.Qdrant?.Url))
                {
                    failures.Add($"{VectorIndexOptions.SectionName}:Qdrant:Url is required when Provider is Qdrant.");
                }
                else if (!options.Qdrant.TryGetEndpoint(out var endpoint))
                {
                    failures.Add($"{VectorIndexOptions.SectionName}:Qdrant:Url '{options.Qdrant.Url}' must be an absolute http or https URL.");
                }
                else if (endpoint.Port == QdrantOptions.RestPort)
                {
                    failures.Add($"{VectorIndexOptions.SectionName}:Qdrant:Url '{options.Qdrant.Url}' names Qdrant's REST port {QdrantOptions.RestPort}; " +
                        $"the client speaks gRPC, served on {QdrantOptions.DefaultGrpcPort} (e.g. http://qdrant:{QdrantOptions.DefaultGrpcPort}).");
                }
                if (options.Qdrant is { } qdrant)
                {
                    if (!Enum.IsDefined(qdrant.Quantization))
                    {
                        failures.Add($"{VectorIndexOptions.SectionName}:Qdrant:Quantization '{qdrant.Quantization}' is not one of {string.Join(", ", Enum.GetNames<QdrantQuantization>())}.");
                    }
                    if (qdrant.WriteConsistencyFactor is { } writeConsistency && writeConsistency > (qdrant.ReplicationFactor ?? 1))
                    {
                        failures.Add($"{VectorIndexOptions.SectionName}:Qdrant:WriteConsistencyFactor {writeConsistency} exceeds ReplicationFactor {qdrant.ReplicationFactor ?? 1}: no write could succeed.");
                    }
                }
                break;
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Annotations(object? section, string sectionName, List<string> failures)
    {
        if (section is null)
        {
            failures.Add($"{VectorIndexOptions.SectionName}:{sectionName} is required.");
            return;
        }
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(section, new ValidationContext(section), results, validateAllProperties: true))
        {
            failures.AddRange(results.Select(r =>
                $"{VectorIndexOptions.SectionName}:{sectionName}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));
        }
    }
}
