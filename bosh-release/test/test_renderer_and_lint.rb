# frozen_string_literal: true

require_relative 'helper'

# The test tools themselves: the template renderer shim and the structural lint, on a
# scratch release built in a temporary directory.
class RendererShimTest < Minitest::Test
  SPEC = <<~YAML
    name: demo
    templates: {demo.erb: config/demo.txt}
    packages: []
    consumes:
    - {name: db, type: db, optional: true}
    properties:
      port: {description: a port, default: 1234}
      new_name: {description: new}
      old_name: {description: old}
      nested.a: {description: a, default: 1}
      nested.b: {description: b}
      plain: {description: no default}
  YAML

  TEMPLATE = <<~'ERB'
    port=<%= p('port') %>
    fallback=<%= p('plain', 'fb') %>
    first=<%= p(['new_name', 'old_name'], 'none') %>
    nested=<%= p('nested').inspect %>
    <% if_p('nested.b') do |b| -%>
    b=<%= b %>
    <% end.else do -%>
    b unset
    <% end -%>
    <% if_link('db') do |db| -%>
    db=<%= db.p('port') %>@<%= db.instances.map(&:address).join(',') %>
    <% end.else do -%>
    no db
    <% end -%>
    id=<%= spec.id %> name=<%= name %> index=<%= index %>
  ERB

  def with_job(template = TEMPLATE)
    Dir.mktmpdir do |dir|
      jdir = File.join(dir, 'jobs', 'demo')
      FileUtils.mkdir_p(File.join(jdir, 'templates'))
      File.write(File.join(jdir, 'spec'), SPEC)
      File.write(File.join(jdir, 'templates', 'demo.erb'), template)
      yield ReleaseTest::Job.new(dir, 'demo')
    end
  end

  def test_p_forms_if_p_if_link_and_spec
    with_job do |job|
      out = job.render('config/demo.txt', { 'old_name' => 'old', 'nested' => { 'b' => 2 } },
                       links: { 'db' => { 'properties' => { 'port' => 5432 }, 'instances' => [{ 'address' => 'db-0' }] } })
      assert_includes out, 'port=1234'
      assert_includes out, 'fallback=fb'
      assert_includes out, 'first=old'
      assert_includes out, 'nested={"a"=>1, "b"=>2}'
      assert_includes out, 'b=2'
      assert_includes out, 'db=5432@db-0'
      assert_match(/id=\S+ name=broker index=0/, out)
    end
  end

  def test_else_branches
    with_job do |job|
      out = job.render('config/demo.txt', { 'new_name' => 'new' })
      assert_includes out, 'first=new'
      assert_includes out, 'b unset'
      assert_includes out, 'no db'
    end
  end

  def test_missing_property_without_default_raises
    with_job("<%= p('plain') %>") do |job|
      error = assert_raises(ReleaseTest::UnknownProperty) { job.render('demo.erb', {}) }
      assert_includes error.message, "Can't find property 'plain'"
    end
  end

  def test_property_not_in_spec_is_unknown_to_templates
    with_job("<%= p('undeclared') %>") do |job|
      assert_raises(ReleaseTest::UnknownProperty) { job.render('demo.erb', {}) }
    end
  end

  def test_link_not_consumed_raises
    with_job("<%= link('other').p('x') %>") do |job|
      assert_raises(ReleaseTest::UnknownLink) { job.render('demo.erb', {}) }
    end
  end
end

class LintTest < Minitest::Test
  include ReleaseTest::Helpers

  # A copy of the release with stand-in binary tarballs under src/ (the dev-build route of
  # scripts/add-blobs.sh --src), so package files patterns match.
  def with_release_copy
    Dir.mktmpdir do |dir|
      copy = File.join(dir, 'bosh-release')
      FileUtils.cp_r(ReleaseTest::RELEASE_DIR, copy)
      ReleaseTest::PACKAGES.each do |package, binary|
        FileUtils.mkdir_p(File.join(copy, 'src', package))
        bin_dir = File.join(dir, 'bin')
        FileUtils.mkdir_p(bin_dir)
        File.write(File.join(bin_dir, binary), "#!/bin/sh\necho stand-in #{binary}\n")
        File.chmod(0o755, File.join(bin_dir, binary))
        _, status = Open3.capture2e('tar', '-czf', File.join(copy, 'src', package, "#{package}-linux-amd64.tgz"), '-C', bin_dir, binary)
        assert status.success?
      end
      yield copy
    end
  end

  def test_release_is_clean_once_the_binaries_are_present
    with_release_copy do |copy|
      assert_equal [], ReleaseTest::Lint.release(copy)
    end
  end

  def test_release_without_binaries_only_misses_the_blobs
    Dir.mktmpdir do |dir|
      copy = File.join(dir, 'r')
      FileUtils.cp_r(ReleaseTest::RELEASE_DIR, copy)
      ReleaseTest::PACKAGES.each_key { |p| FileUtils.rm_rf(File.join(copy, 'src', p)) }
      problems = ReleaseTest::Lint.release(copy)
      assert_equal 2, problems.size, problems.join("\n")
      problems.each { |pr| assert_includes pr, 'matches nothing in src/ or config/blobs.yml' }
    end
  end

  def test_lint_catches_what_create_release_lets_through
    with_release_copy do |copy|
      job = File.join(copy, 'jobs', 'broker')
      FileUtils.rm(File.join(copy, 'jobs', 'service-adapter', 'monit'))
      File.write(File.join(job, 'templates', 'unused.erb'), 'x')
      File.write(File.join(job, 'templates', 'drain.erb'), "<% if true %>\n")
      spec = YAML.safe_load(File.read(File.join(job, 'spec')))
      spec['properties']['port'].delete('description')
      spec['provides'] = [{ 'name' => 'broker', 'type' => 'broker', 'properties' => ['nope'] }]
      spec['packages'] << 'missing-package'
      File.write(File.join(job, 'spec'), spec.to_yaml)
      problems = ReleaseTest::Lint.release(copy).join("\n")
      assert_includes problems, 'jobs/service-adapter: no monit file'
      assert_includes problems, 'templates/unused.erb: not listed'
      assert_includes problems, 'templates/drain.erb: ERB syntax error'
      assert_includes problems, 'property port has no description'
      assert_includes problems, 'exports undeclared property nope'
      assert_includes problems, 'unknown package missing-package'
    end
  end

  def test_lint_catches_what_create_release_refuses
    with_release_copy do |copy|
      FileUtils.rm(File.join(copy, 'jobs', 'broker', 'templates', 'post-start.erb'))
      File.write(File.join(copy, 'packages', 'on-demand-broker', 'spec'),
                 { 'name' => 'broker', 'dependencies' => ['golang'], 'files' => ['nothing/*'] }.to_yaml)
      problems = ReleaseTest::Lint.release(copy).join("\n")
      assert_includes problems, 'template post-start.erb does not exist'
      assert_includes problems, 'differs from the directory name'
      assert_includes problems, 'unknown package golang'
      assert_includes problems, 'files pattern nothing/* matches nothing'
    end
  end
end
