# frozen_string_literal: true

# Just enough of `bosh int` to check the example manifest without the bosh CLI: applies ops
# files (replace and remove; path segments KEY, INDEX, NAME=VALUE, a trailing '?' to create
# a missing key, and a final '-' to append to a list) and fills in ((variables)). A path that matches nothing is an error, as it
# is for bosh.
module ReleaseTest
  module ManifestOps
    class PathError < StandardError; end

    module_function

    def apply(doc, ops)
      doc = Marshal.load(Marshal.dump(doc))
      ops.each do |op|
        segments = op.fetch('path').split('/').drop(1)
        raise PathError, "op path #{op['path']} is empty" if segments.empty?

        parent = segments[0..-2].reduce(doc) { |node, seg| step(node, seg, op['path']) }
        last = segments.last
        case op.fetch('type')
        when 'replace' then replace(parent, last, Marshal.load(Marshal.dump(op['value'])), op['path'])
        when 'remove' then remove(parent, last, op['path'])
        else raise PathError, "unsupported op type #{op['type']}"
        end
      end
      doc
    end

    def step(node, seg, path)
      optional = seg.end_with?('?')
      seg = seg.delete_suffix('?')
      if node.is_a?(Array)
        item = if seg.match?(/\A\d+\z/)
                 node[seg.to_i]
               elsif seg.include?('=')
                 k, v = seg.split('=', 2)
                 matches = node.select { |i| i.is_a?(Hash) && i[k].to_s == v }
                 raise PathError, "Expected to find exactly one matching array item for path '#{path}'" unless matches.size == 1

                 matches.first
               end
        raise PathError, "Expected to find an item at '#{seg}' for path '#{path}'" if item.nil?

        item
      elsif node.is_a?(Hash)
        node[seg] = {} if optional && !node.key?(seg)
        raise PathError, "Expected to find a map key '#{seg}' for path '#{path}'" unless node.key?(seg)

        node[seg]
      else
        raise PathError, "Expected a map or array at '#{seg}' for path '#{path}'"
      end
    end

    def replace(parent, seg, value, path)
      optional = seg.end_with?('?')
      seg = seg.delete_suffix('?')
      if parent.is_a?(Hash)
        raise PathError, "Expected to find a map key '#{seg}' for path '#{path}'" unless optional || parent.key?(seg)

        parent[seg] = value
      elsif parent.is_a?(Array) && seg == '-'
        parent << value
      elsif parent.is_a?(Array)
        idx = parent.index(step(parent, seg, path))
        parent[idx] = value
      else
        raise PathError, "cannot replace at #{path}"
      end
    end

    def remove(parent, seg, path)
      seg = seg.delete_suffix('?')
      if parent.is_a?(Hash)
        raise PathError, "Expected to find a map key '#{seg}' for path '#{path}'" unless parent.key?(seg)

        parent.delete(seg)
      elsif parent.is_a?(Array)
        parent.delete_at(parent.index(step(parent, seg, path)))
      else
        raise PathError, "cannot remove at #{path}"
      end
    end

    # Replaces every ((name)) with vars[name]; a whole-value reference keeps the value's type.
    def interpolate(node, vars)
      case node
      when Hash then node.transform_values { |v| interpolate(v, vars) }
      when Array then node.map { |v| interpolate(v, vars) }
      when String
        if (m = node.match(/\A\(\(([^()]+)\)\)\z/))
          vars.fetch(m[1]) { raise KeyError, "Expected to find variables: #{m[1]}" }
        else
          node.gsub(/\(\(([^()]+)\)\)/) { vars.fetch(Regexp.last_match(1)) { raise KeyError, "Expected to find variables: #{Regexp.last_match(1)}" }.to_s }
        end
      else node
      end
    end
  end
end
